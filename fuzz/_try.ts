import { runRatchetFuzz } from './ratchet.ts';
const seed = Number(process.argv[2] ?? 1);
const steps = Number(process.argv[3] ?? 2000);
const layers = (process.argv[4] ?? 'ratchet,session').split(',') as any;
const t = Date.now();
const r = await runRatchetFuzz({ seed, steps, layers });
console.log(JSON.stringify(r, null, 1).slice(0, 4000));
console.log('ms', Date.now() - t);
