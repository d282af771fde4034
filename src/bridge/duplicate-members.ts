/**
 * Duplicate member names where airlock reads a message. JSON.parse keeps the last of two equal
 * names, while airlock forwards the message's own bytes, and a server whose parser keeps the first
 * would act on the other one: `{"params":{"name":"delete_file","name":"read_file"}}` passed a
 * `--deny-tool 'delete_*'` and was audited as read_file (attack review, finding 3). RFC 8259 §4
 * leaves such messages' meaning open; airlock refuses them instead of guessing.
 *
 * Only the members airlock reads are checked: the top level, and `params` (method, id, name, uri,
 * arguments, cursor, _meta...). The scan walks the text once, skipping over strings and nested
 * values with indexOf, so a 1 MiB argument costs a few native string searches.
 */

/** The first duplicated member name at the top level or directly in `params`, or undefined. */
export function duplicateMember(text: string): string | undefined {
  const scanner = new Scanner(text);
  return scanner.object(true);
}

class Scanner {
  private at = 0;
  constructor(private readonly text: string) {}

  private skipSpace(): void {
    const { text } = this;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return;
      this.at++;
    }
  }

  /** At an opening quote: returns the string's raw content and moves past it. */
  private string(): string {
    const { text } = this;
    const start = ++this.at;
    for (;;) {
      const quote = text.indexOf('"', this.at);
      if (quote === -1) throw new Error('unterminated string');
      let backslashes = 0;
      for (let i = quote - 1; i >= start && text.charCodeAt(i) === 92; i--) backslashes++;
      this.at = quote + 1;
      if (backslashes % 2 === 0) return text.slice(start, quote);
    }
  }

  /** Skip one value of any kind. */
  private value(): void {
    this.skipSpace();
    const c = this.text.charCodeAt(this.at);
    if (c === 34) return void this.string();
    if (c === 123 || c === 91) return this.nested();
    // A number, true, false or null: up to the next delimiter.
    while (this.at < this.text.length && !',}] \t\r\n'.includes(this.text[this.at]!)) this.at++;
  }

  /** Skip a whole object or array, strings included, by depth. */
  private nested(): void {
    const { text } = this;
    let depth = 0;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c === 34) {
        this.string();
        continue;
      }
      if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) {
          this.at++;
          return;
        }
      }
      this.at++;
    }
  }

  /** At `{`: the first duplicate name among its members; `top` also looks inside `params`. */
  object(top: boolean): string | undefined {
    this.skipSpace();
    if (this.text.charCodeAt(this.at) !== 123) return undefined;
    this.at++;
    const seen = new Set<string>();
    for (;;) {
      this.skipSpace();
      const c = this.text.charCodeAt(this.at);
      if (c === 125) {
        this.at++;
        return undefined;
      }
      if (Number.isNaN(c)) return undefined;
      if (c === 44) {
        this.at++;
        continue;
      }
      if (c !== 34) return undefined; // not JSON we can read: JSON.parse reports it
      const raw = this.string();
      // Compare names as JSON.parse reads them: "na\u006de" is "name".
      const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      if (seen.has(name)) return top ? name : `params.${name}`;
      seen.add(name);
      this.skipSpace();
      if (this.text.charCodeAt(this.at) !== 58) return undefined;
      this.at++;
      this.skipSpace();
      if (top && name === 'params' && this.text.charCodeAt(this.at) === 123) {
        const inner = this.object(false);
        if (inner !== undefined) return inner;
      } else {
        this.value();
      }
    }
  }
}
