import { RegistryError } from './errors.js';

/** Minimal fetch signature, so browsers, Workers, Node and test doubles all fit. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** `globalThis.fetch`, looked up per call (and called on globalThis: browsers refuse a detached fetch). */
export const defaultFetch: FetchLike = (input, init) => globalThis.fetch(input, init);

/** Reads a response body up to `maxBytes`; larger answers are refused rather than buffered. */
export async function readLimitedText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new RegistryError(response.status, 'response_too_large', `the answer is larger than ${maxBytes} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new RegistryError(response.status, 'response_too_large', `the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
