/**
 * The peers (Node only; devDependencies used by bench/ alone). Each loads on its own: a peer that
 * is not installed, or fails to load here, is reported and left out.
 */
import type { Contender } from '../runner.js';

export const PEER_IDS = ['libsignal-client', 'ms-sdk', 'olm', 'libsignal-ts'] as const;
export type PeerId = (typeof PEER_IDS)[number];

const loaders: Record<PeerId, () => Promise<Contender>> = {
  'libsignal-client': async () => (await import('./libsignal-client.js')).libsignalClient(),
  'ms-sdk': async () => (await import('./agentmesh-ms.js')).msAgentMesh(),
  olm: async () => (await import('./olm.js')).olm(),
  'libsignal-ts': async () => (await import('./libsignal-ts.js')).libsignalTs(),
};

export async function peerContenders(ids: readonly PeerId[] = PEER_IDS, onSkip?: (id: string, reason: string) => void): Promise<Contender[]> {
  const out: Contender[] = [];
  for (const id of ids) {
    try {
      out.push(await loaders[id]());
    } catch (error) {
      onSkip?.(id, (error as Error).message.split('\n')[0]!);
    }
  }
  return out;
}
