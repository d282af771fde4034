/**
 * "Did you mean ...?": the known word a mistyped one most likely is. For commands and flags (the
 * CLI's usage errors) and for members and values of files (the servers file).
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment), so that `stauts` is one
 * step from `status`, as a typing hand makes it.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a typo of it (at most 2 edits, fewer for short words). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const bare = (s: string): string => s.replace(/^--?/, '').toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(bare(word), bare(candidate));
    const allowed = Math.min(2, Math.floor(bare(candidate).length / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
