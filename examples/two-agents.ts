/**
 * Two agents in one Node process: Bob publishes pre-keys, Alice opens a channel with X3DH,
 * and they talk through the Double Ratchet. Everything a relay would carry is printed, so you can
 * see it never holds plaintext.
 */
import {
  AgentIdentity,
  EncryptedMessage,
  InMemoryPreKeyStore,
  SecureChannel,
  X3DHKeyManager,
  decodeEstablishment,
  encodeBundle,
  encodeEstablishment,
  fromUtf8,
  utf8,
} from '../src/index.js';

const alice = await AgentIdentity.generate();
const bob = await AgentIdentity.generate();
console.log(`alice ${alice.did}\nbob   ${bob.did}\n`);

const aliceKeys = await X3DHKeyManager.fromEd25519Keys(alice.secretKey, alice.publicKey);
const bobKeys = await X3DHKeyManager.fromEd25519Keys(bob.secretKey, bob.publicKey);
await bobKeys.generateSignedPreKey();
await bobKeys.generateOneTimePreKeys(10);

// Bob publishes a bundle; Alice fetches it (a registry would do this over HTTP).
const registry = new InMemoryPreKeyStore();
await registry.storeBundle(bob.did, bobKeys.getPublicBundle(0));
const bundle = (await registry.getBundle(bob.did))!;
console.log('bundle as the registry serves it:', JSON.stringify(encodeBundle(bundle)).slice(0, 120) + '…');

const ad = utf8(`${alice.did}|${bob.did}`);
const [aliceChannel, establishment] = await SecureChannel.createSender(aliceKeys, bundle, ad);
const wireEstablishment = JSON.stringify(encodeEstablishment(establishment));
const bobChannel = await SecureChannel.createReceiver(bobKeys, decodeEstablishment(wireEstablishment), ad);

const script: [SecureChannel, SecureChannel, string][] = [
  [aliceChannel, bobChannel, 'Hello Bob, can you summarise the Q3 report?'],
  [bobChannel, aliceChannel, 'Sure. Revenue up 12%, costs flat.'],
  [aliceChannel, bobChannel, 'Thanks. Approve the transfer of $1000 to account X.'],
  [bobChannel, aliceChannel, 'Approved.'],
];
for (const [from, to, text] of script) {
  const frame = JSON.stringify((await from.send(utf8(text))).toFrame());
  console.log(`\nrelay carries: ${frame.slice(0, 110)}…`);
  const plaintext = fromUtf8(await to.receive(EncryptedMessage.fromFrame(frame)));
  console.log(`${from === aliceChannel ? 'bob' : 'alice'} reads:  ${plaintext}`);
}

await aliceChannel.close();
await bobChannel.close();
console.log(`\n${aliceChannel.messageCount} messages on each side; channels closed and keys zeroed.`);
