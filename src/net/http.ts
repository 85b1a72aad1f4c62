import { RegistryError } from './errors.js';

/** Minimal fetch signature, so browsers, Workers, Node and test doubles all fit. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** `globalThis.fetch`, looked up per call (and called on globalThis: browsers refuse a detached fetch). */
export const defaultFetch: FetchLike = (input, init) => globalThis.fetch(input, init);

/**
 * Reads a body stream up to `maxBytes`, whatever a Content-Length claims; past that the stream is
 * cancelled and `tooLarge()` thrown, so nothing larger is ever buffered. Shared by client and Worker.
 *
 * `drainBytes` (for request bodies): an over-long stream is read on and dropped, up to this many
 * bytes, before it is cancelled, and one refused by its Content-Length is not touched. Cancelling
 * a request body the Worker had not read stalled the Worker's next request under wrangler dev
 * (found by fuzz/worker.ts).
 */
export async function readLimitedBytes(
  body: ReadableStream<Uint8Array> | null,
  declaredLength: string | null,
  maxBytes: number,
  tooLarge: () => Error,
  drainBytes?: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (declaredLength !== null && Number(declaredLength) > maxBytes) {
    if (drainBytes === undefined) await body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      for (let dropped = 0; drainBytes !== undefined && dropped <= drainBytes; ) {
        const next = await reader.read();
        if (next.done) throw tooLarge();
        dropped += next.value.byteLength;
      }
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

/** Reads a response body up to `maxBytes`; larger answers are refused rather than buffered. */
export async function readLimitedText(response: Response, maxBytes: number): Promise<string> {
  const bytes = await readLimitedBytes(response.body, response.headers.get('content-length'), maxBytes, () => {
    return new RegistryError(response.status, 'response_too_large', `the answer is larger than ${maxBytes} bytes`);
  });
  return new TextDecoder().decode(bytes);
}
