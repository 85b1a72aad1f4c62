/** A tiny element builder: `h('button', { type: 'submit', onclick }, 'Send')`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value as EventListener);
    else if (key === 'class') el.className = String(value);
    else if (key in el && key !== 'list' && key !== 'for') (el as unknown as Record<string, unknown>)[key] = value;
    else el.setAttribute(key === 'for' ? 'for' : key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** The part of a DID that tells agents apart: `did:agentmesh:21fs7AzFy…9FSn` → `21fs7A…9FSn`. */
export const shortDid = (did: string): string => {
  const id = did.slice(did.lastIndexOf(':') + 1);
  return id.length > 12 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id;
};
export const shortKey = (hex: string | null): string => (hex ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : '—');
export const time = (ms: number): string => new Date(ms).toLocaleTimeString();

/** Coalesces many change notifications into one call per animation frame. */
export function batched(fn: () => void | Promise<void>): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      void fn();
    });
  };
}
