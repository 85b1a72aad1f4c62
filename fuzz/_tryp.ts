import { runParserFuzz } from './parsers.ts';
const seed = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 2000);
const only = process.argv[4] ? process.argv[4].split(',') : undefined;
const t = Date.now();
const r = await runParserFuzz({ seed, count, only, timeBoxMs: 1000, onProgress: (i) => { if (i % 500 === 0) console.error("at", i); } });
for (const [k, v] of Object.entries(r.stats)) console.log(k, v.inputs, v.accepted, JSON.stringify(v.refused), Math.round(v.slowestMs));
const byKey = new Map();
for (const f of r.failures) { const k = f.target + ' ' + f.kind + ' ' + f.message.slice(0, 80); if (!byKey.has(k)) byKey.set(k, []); byKey.get(k).push(f); }
for (const [k, fs] of byKey) console.log('FAIL x' + fs.length, k, '\n   e.g.', fs[0].index, fs[0].strategy, fs[0].ms + 'ms', fs[0].input.slice(0, 200), '\n  ', fs[0].message.slice(0, 300));
console.log('ms', Date.now() - t);
