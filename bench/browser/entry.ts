/**
 * The browser side of `npm run bench:browser`: ours under every static preset and the floor on
 * each, with the same runner, workloads and targets as Node (peers are Node-only). The page calls
 * `window.agentmeshBench(options)`; it resolves to the table and the JSON results.
 */
import { defaultCryptoPreset } from '../../src/crypto/index.js';
import { floorContenders, formatResults, ourContenders, PRESETS, resultsJson, runBench } from '../runner.js';
import { evaluateTargets, targetSummary } from '../targets.js';
import { WORKLOADS } from '../workloads.js';

declare global {
  interface Window {
    agentmeshBench: (options: { rounds: number; sampleMs: number; iterations?: number; workloads?: string[] }) => Promise<{ table: string; summary: string; json: unknown }>;
  }
}

window.agentmeshBench = async ({ rounds, sampleMs, iterations, workloads }) => {
  const picked = workloads ? WORKLOADS.filter((w) => workloads.includes(w.id)) : WORKLOADS;
  const ours = await ourContenders(PRESETS);
  ours.sort((a, b) => Number(b.id === defaultCryptoPreset()) - Number(a.id === defaultCryptoPreset()));
  const result = await runBench({
    contenders: [...ours, ...(await floorContenders(PRESETS))],
    workloads: picked,
    rounds,
    sampleMs,
    iterations,
    referenceId: defaultCryptoPreset(),
  });
  const checks = evaluateTargets(result);
  return { table: formatResults(result, checks), summary: targetSummary(checks), json: resultsJson(result) };
};
