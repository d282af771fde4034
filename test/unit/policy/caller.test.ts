import { describe, expect, it } from 'vitest';
import type { AuditPrincipal } from '../../../src/audit/audit-record.js';
import { ANONYMOUS, callerFromPrincipal, callerSource, describeCaller, localUserCaller, STATIC_TOKEN_CALLER } from '../../../src/policy/caller.js';

const alice: AuditPrincipal = { issuer: 'https://idp', subject: 'alice', actors: [{ subject: 'agent-7' }, { clientId: 'orch' }], clientId: 'vscode', scopes: ['mcp:read'], groups: ['support'] };

describe('callerFromPrincipal', () => {
  it('keys callers by issuer and subject (or client), and lists the actors current first', () => {
    expect(callerFromPrincipal(alice)).toEqual({ key: '["subject","https://idp","alice"]', issuer: 'https://idp', subject: 'alice', clientId: 'vscode', scopes: ['mcp:read'], groups: ['support'], roles: [], actors: ['agent-7', 'orch'], delegated: true });
    expect(callerFromPrincipal({ issuer: 'i', clientId: 'ci-bot', scopes: [] })).toMatchObject({ key: '["client","i","ci-bot"]', clientId: 'ci-bot', delegated: false });
    expect(callerFromPrincipal({ issuer: 'i', clientId: '', scopes: [] })).not.toHaveProperty('clientId');
  });

  // Issue 20 (low): a client named alice (a token without sub) had user alice's key, and drained her limits.
  it('never gives a client the key of a subject with the same name, nor a local user either', () => {
    const user = callerFromPrincipal({ issuer: 'i', subject: 'alice', clientId: 'app', scopes: [] });
    const client = callerFromPrincipal({ issuer: 'i', clientId: 'alice', scopes: [] });
    expect(user.key).not.toBe(client.key);
    expect(localUserCaller('alice').key).toBe('["local","alice"]');
    expect(callerFromPrincipal({ issuer: 'i\nalice', subject: 'x', clientId: '', scopes: [] }).key).not.toBe(callerFromPrincipal({ issuer: 'i', subject: 'alice\nx', clientId: '', scopes: [] }).key);
  });
});

describe('callerSource', () => {
  it('falls back when nobody is identified', () => {
    const local = localUserCaller('dev');
    expect(callerSource(undefined, local)()).toBe(local);
    expect(callerSource(() => null, ANONYMOUS)()).toBe(ANONYMOUS);
  });

  it('keeps the same Caller while the principal says the same thing, and makes a new one when it changes', () => {
    let principal: AuditPrincipal = alice;
    const source = callerSource(() => principal, ANONYMOUS);
    const first = source();
    principal = { ...alice, scopes: ['mcp:read'] }; // a new object per request, as serve makes them
    expect(source()).toBe(first);
    principal = { ...alice, scopes: ['mcp:read', 'mcp:write'] };
    const widened = source();
    expect(widened).not.toBe(first);
    expect(widened.scopes).toEqual(['mcp:read', 'mcp:write']);
    principal = { ...alice, scopes: ['mcp:read', 'mcp:write'], actors: [{ subject: 'agent-8' }] };
    const delegated = source();
    expect(delegated.actors).toEqual(['agent-8']);
    principal = { ...alice, scopes: ['mcp:read', 'mcp:write'], actors: [{ subject: 'agent-8', issuer: 'https://other' }] };
    expect(source()).toBe(delegated); // the same actor, as the policy names it
    principal = { ...alice, scopes: ['mcp:read', 'mcp:write'], actors: [{ subject: 'agent-9' }] };
    expect(source().actors).toEqual(['agent-9']);
  });
});

describe('describeCaller', () => {
  it('names the caller for messages, quoting what the token says', () => {
    expect(describeCaller(ANONYMOUS)).toBe('an anonymous caller');
    expect(describeCaller(STATIC_TOKEN_CALLER)).toBe('subject "static-token"');
    expect(describeCaller(callerFromPrincipal(alice))).toBe('subject "alice" through actor "agent-7" (groups: "support"; scopes: "mcp:read")');
    expect(describeCaller(callerFromPrincipal({ issuer: 'i', clientId: 'bot\n', scopes: [] }))).toBe('client "bot\\n"');
  });
});
