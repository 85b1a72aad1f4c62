/**
 * How often each inbound frame failed for a reason that may pass (a peer that did not answer the
 * handshake in time), so that MeshAgent can give up on it after a bounded number of tries instead
 * of stalling on it after every reconnect. In memory only: a restart starts the counts again.
 */

/** Tries a frame gets before it is acknowledged and reported as undeliverable. */
export const MAX_DELIVERY_TRIES = 3;
/** Failing frames remembered per sender; past it, that sender's oldest count goes. */
const MAX_FRAMES_PER_PEER = 16;
/** Senders remembered; past it, the longest-remembered sender's counts go. */
const MAX_PEERS = 1024;

/**
 * Strangers write here (each frame of theirs that fails), so room is per sender: a sender fills
 * only its own slots. Losing a count gives that frame more tries, never fewer.
 */
export class DeliveryTries {
  readonly #byPeer = new Map<string, Map<string, number>>();

  /** Counts one more failed try of frame `id` from `peerDid`; returns the tries so far. */
  record(peerDid: string, id: string): number {
    let ids = this.#byPeer.get(peerDid);
    if (!ids) {
      if (this.#byPeer.size >= MAX_PEERS) this.#byPeer.delete(this.#byPeer.keys().next().value!);
      ids = new Map();
      this.#byPeer.set(peerDid, ids);
    }
    const tries = (ids.get(id) ?? 0) + 1;
    ids.delete(id);
    ids.set(id, tries);
    if (ids.size > MAX_FRAMES_PER_PEER) ids.delete(ids.keys().next().value!);
    return tries;
  }

  forget(peerDid: string, id: string): void {
    const ids = this.#byPeer.get(peerDid);
    if (!ids?.delete(id)) return;
    if (ids.size === 0) this.#byPeer.delete(peerDid);
  }
}
