/**
 * Just enough of vitest's API (describe/it/each/hooks, expect, vi.spyOn/stubGlobal) for the SDK's
 * storage and session test files to run unchanged in a real browser page. `expect` is vitest's own
 * (@vitest/expect on chai), so the assertions mean exactly what they mean under Node.
 */
import { chai, GLOBAL_EXPECT, JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState } from '@vitest/expect';
import * as spies from '@vitest/spy';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

type Fn = () => unknown | Promise<unknown>;
interface Scope {
  names: string[];
  before: Fn[];
  after: Fn[];
}
export interface Case {
  file: string;
  name: string;
  fn: Fn;
  before: Fn[];
  after: Fn[];
  skip: boolean;
}

const cases: Case[] = [];
const scopes: Scope[] = [{ names: [], before: [], after: [] }];
let currentFile = '';

export function setFile(file: string): void {
  currentFile = file;
}
export function collected(): Case[] {
  return cases;
}

const top = () => scopes[scopes.length - 1]!;
const format = (name: string, row: unknown) => {
  const args = Array.isArray(row) ? row : [row];
  let i = 0;
  return name.replace(/%[sdio]/g, () => String(args[i++]));
};

function describeImpl(name: string, fn: () => void, skip = false): void {
  scopes.push({ names: [...top().names, name], before: [...top().before], after: [...top().after], ...(skip ? { skip } : {}) });
  try {
    fn();
  } finally {
    scopes.pop();
  }
}
export const describe = Object.assign((name: string, fn: () => void) => describeImpl(name, fn), {
  skip: (name: string, fn: () => void) => describeImpl(name, fn, true),
  each: (rows: unknown[]) => (name: string, fn: (...args: unknown[]) => void) => {
    for (const row of rows) describeImpl(format(name, row), () => fn(...(Array.isArray(row) ? row : [row])));
  },
});

function itImpl(name: string, fn: Fn, skip = false): void {
  const scope = top();
  // Hooks registered later in the same describe block still apply: read them at run time.
  cases.push({
    file: currentFile,
    name: [...scope.names, name].join(' › '),
    fn,
    get before() {
      return scope.before;
    },
    get after() {
      return scope.after;
    },
    skip,
  });
}
export const it = Object.assign((name: string, fn: Fn) => itImpl(name, fn), {
  skip: (name: string, fn: Fn) => itImpl(name, fn, true),
  each: (rows: unknown[]) => (name: string, fn: (...args: unknown[]) => unknown) => {
    for (const row of rows) itImpl(format(name, row), () => fn(...(Array.isArray(row) ? row : [row])));
  },
});
export const test = it;
export const beforeEach = (fn: Fn) => void top().before.push(fn);
export const afterEach = (fn: Fn) => void top().after.push(fn);

const expectImpl = ((value: unknown, message?: string) => {
  const { assertionCalls } = getState(expectImpl);
  setState({ assertionCalls: assertionCalls + 1 }, expectImpl);
  return chai.expect(value, message);
}) as unknown as Record<string, unknown> & ((value: unknown, message?: string) => unknown);
Object.assign(expectImpl, chai.expect);
expectImpl.getState = () => getState(expectImpl);
expectImpl.setState = (state: object) => setState(state, expectImpl);
setState(
  {
    assertionCalls: 0,
    isExpectingAssertions: false,
    isExpectingAssertionsError: null,
    expectedAssertionsNumber: null,
    expectedAssertionsNumberErrorGen: null,
    environment: 'browser',
    testPath: '',
    currentTestName: '',
  },
  expectImpl,
);
(globalThis as Record<PropertyKey, unknown>)[GLOBAL_EXPECT] = expectImpl;
export const expect = expectImpl as unknown as typeof import('vitest').expect;

/** Thrown to skip a test that cannot run in this browser (reported as skipped, with the reason). */
export class SkipTest extends Error {}

const stubbed = new Map<string, PropertyDescriptor | undefined>();
export const vi = {
  spyOn: spies.spyOn,
  fn: spies.fn,
  stubGlobal(name: string, value: unknown) {
    if (!stubbed.has(name)) stubbed.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    try {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: true });
    } catch {
      // Reported below.
    }
    // Some engines keep their own `navigator` on the window whatever is defined: the test cannot run there.
    if ((globalThis as Record<string, unknown>)[name] !== value) throw new SkipTest(`this browser does not let a page replace globalThis.${name}`);
  },
  unstubAllGlobals() {
    for (const [name, descriptor] of stubbed) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete (globalThis as Record<string, unknown>)[name];
    }
    stubbed.clear();
  },
  restoreAllMocks: spies.restoreAllMocks,
};

export interface CaseResult {
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  error?: string;
}

/** Runs every collected case in order, each with a timeout. */
export async function runAll(onResult: (r: CaseResult) => void, timeoutMs = 30_000): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) {
    const started = performance.now();
    let result: CaseResult;
    if (c.skip) result = { file: c.file, name: c.name, status: 'skipped', ms: 0 };
    else {
      try {
        setState({ assertionCalls: 0, currentTestName: c.name, testPath: c.file }, expectImpl);
        for (const hook of c.before) await hook();
        try {
          await Promise.race([
            c.fn(),
            new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)),
          ]);
        } finally {
          for (const hook of c.after) await hook();
        }
        result = { file: c.file, name: c.name, status: 'passed', ms: Math.round(performance.now() - started) };
      } catch (error) {
        const e = error as Error;
        if (error instanceof SkipTest) {
          result = { file: c.file, name: c.name, status: 'skipped', ms: 0, error: e.message };
          results.push(result);
          onResult(result);
          continue;
        }
        result = { file: c.file, name: c.name, status: 'failed', ms: Math.round(performance.now() - started), error: `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}` };
      }
    }
    results.push(result);
    onResult(result);
  }
  return results;
}
