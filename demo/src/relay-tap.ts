import { fromBase64Any, toBase64Url, type WebSocketLike } from '../../src/index.js';

/** One frame as it crossed the wire between an agent and the relay. */
export interface TapEvent {
  seq: number;
  agent: string;
  /** `up`: the agent handed it to the relay; `down`: the relay delivered it. */
  dir: 'up' | 'down';
  at: number;
  frame: Record<string, unknown>;
  /** The demo's "malicious relay" flipped a bit of this frame's ciphertext before delivering it. */
  tampered?: boolean;
}

const CONTROL = new Set(['connect', 'connected', 'heartbeat', 'ack']);
let seq = 0;

/**
 * A WebSocket factory for MeshAgent that records every frame in both directions (what the relay
 * sees) and can play a relay that alters a message in transit. The SDK gets a socket that behaves
 * exactly like the browser's.
 */
export class RelayTap {
  readonly events: TapEvent[] = [];
  /** Flip one ciphertext bit of the next message frame delivered to this agent. */
  tamperNext = false;
  readonly #listeners = new Set<(e: TapEvent) => void>();

  constructor(readonly agent: string) {}

  onEvent(listener: (e: TapEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  static isControl(frame: Record<string, unknown>): boolean {
    return CONTROL.has(String(frame.type)) || frame.from === 'relay';
  }

  readonly factory = (url: string): WebSocketLike => {
    const ws = new WebSocket(url);
    return {
      get readyState() {
        return ws.readyState;
      },
      send: (data: string) => {
        this.#record('up', data);
        ws.send(data);
      },
      close: (code?: number, reason?: string) => ws.close(code, reason),
      addEventListener: (type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void) => {
        if (type !== 'message') {
          ws.addEventListener(type, listener as EventListener);
          return;
        }
        ws.addEventListener('message', (event: MessageEvent) => {
          const data = typeof event.data === 'string' ? this.#inbound(event.data) : event.data;
          (listener as (e: { data: unknown }) => void)({ data });
        });
      },
    };
  };

  #inbound(text: string): string {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return text;
    }
    let tampered = false;
    if (this.tamperNext && frame.type === 'message' && typeof frame.ciphertext === 'string') {
      const bytes = fromBase64Any(frame.ciphertext);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      frame = { ...frame, ciphertext: toBase64Url(bytes) };
      text = JSON.stringify(frame);
      this.tamperNext = false;
      tampered = true;
    }
    this.#push({ seq: ++seq, agent: this.agent, dir: 'down', at: Date.now(), frame, ...(tampered ? { tampered } : {}) });
    return text;
  }

  #record(dir: 'up' | 'down', text: string): void {
    try {
      this.#push({ seq: ++seq, agent: this.agent, dir, at: Date.now(), frame: JSON.parse(text) as Record<string, unknown> });
    } catch {
      // Not JSON: not ours to show.
    }
  }

  #push(event: TapEvent): void {
    if (event.frame.type === 'heartbeat') return;
    this.events.push(event);
    if (this.events.length > 500) this.events.shift();
    for (const l of this.#listeners) l(event);
  }
}
