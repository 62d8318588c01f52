// Prompt weights on the pretrained tiny models of ../shared/data/models/: for each
// prompt of two styles (data/prompts/tinystories.txt: TinyStories-style openings;
// data/prompts/aidreams.txt: in the style of aidreams260K's own greedy text), each model's
// bits per byte of the prompt and its weight under the default rule (`coolfusion generate
// --json -n 1`). Prints a Markdown table: per style, the mean bits per byte and weight of
// each model and how often it got the largest weight.
//   node scripts/weights_real.mjs [BIN] [MODEL_DIR]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const bin = process.argv[2] || 'build/bin/coolfusion';
const dir = process.argv[3] || '../shared/data/models';
const models = ['stories260K', 'aidreams260K', 'babyllama105'];
const styles = [['TinyStories-style', 'data/prompts/tinystories.txt'], ['aidreams-style', 'data/prompts/aidreams.txt']];

console.log('| prompts | model | bits per byte (mean) | weight (mean) | largest weight | sat out |');
console.log('|---|---|---|---|---|---|');
for (const [style, file] of styles) {
  const prompts = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const sum = models.map(() => ({ bpb: 0, w: 0, top: 0, out: 0, n: 0 }));
  for (const p of prompts) {
    const args = ['generate', '--json', '-n', '1', '-t', '1', '-p', p];
    for (const m of models) args.push('-m', `${dir}/${m}.gguf`);
    const j = JSON.parse(execFileSync(bin, args, { encoding: 'utf8' }));
    const w = j.model_weights;
    let top = 0;
    w.forEach((m, i) => { if (m.weight > w[top].weight) top = i; });
    w.forEach((m, i) => {
      if (m.prompt_bits_per_byte === null) return;
      sum[i].bpb += m.prompt_bits_per_byte;
      sum[i].w += m.weight;
      sum[i].out += m.sat_out ? 1 : 0;
      sum[i].n += 1;
    });
    sum[top].top += 1;
  }
  models.forEach((m, i) => {
    const s = sum[i];
    console.log(`| ${style} (${prompts.length}) | ${m} | ${(s.bpb / s.n).toFixed(2)} | ${(s.w / s.n).toFixed(3)} | ` +
      `${s.top} of ${prompts.length} | ${s.out} |`);
  });
}
