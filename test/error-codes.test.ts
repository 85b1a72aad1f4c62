import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import { AgentMeshError } from '../src/errors.js';

type ErrorClass = new (...args: unknown[]) => AgentMeshError;

/** Every error class the package root exports (callers branch on these). */
const errorClasses = Object.entries(root as Record<string, unknown>).filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof AgentMeshError,
);

/**
 * Classes that carry the code the registry or relay answered (`{ error }`), or the code of the
 * request check that failed; every other class has one fixed code.
 */
const CODE_FROM_PEER = ['RegistryError', 'RelayError', 'RequestAuthError'];

/** Builds an error with placeholder arguments: a fixed-code class ignores them in its code. */
function probe(Ctor: ErrorClass): AgentMeshError {
  return new Ctor('probe-a', 'probe-b', 'probe-c');
}

describe('error codes', () => {
  it('the root exports the error classes, each a subclass of AgentMeshError named as exported', () => {
    expect(errorClasses.length).toBeGreaterThan(20);
    for (const [name, Ctor] of errorClasses) expect(probe(Ctor).name).toBe(name);
  });

  it('only the registry, relay and request-auth errors take their code from the peer', () => {
    const fromPeer = errorClasses.filter(([, Ctor]) => probe(Ctor).code.startsWith('probe-')).map(([name]) => name);
    expect(fromPeer.sort()).toEqual(CODE_FROM_PEER);
  });

  it('every other exported error class has a code of its own', () => {
    const owners = new Map<string, string[]>();
    for (const [name, Ctor] of errorClasses) {
      if (CODE_FROM_PEER.includes(name)) continue;
      const { code } = probe(Ctor);
      expect(code, name).toMatch(/^[a-z][a-z_]*$/);
      owners.set(code, [...(owners.get(code) ?? []), name]);
    }
    const shared = [...owners].filter(([, names]) => names.length > 1);
    expect(shared, 'codes used by more than one class').toEqual([]);
  });
});
