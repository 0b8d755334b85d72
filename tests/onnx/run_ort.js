// ONNX Runtime (the npm package onnxruntime-node) runs every model that
// typenet exported (manifest.json, written by onnx_runtimes' OnnxExport) on
// the same images, at batch 16 and at batch 1 (the symbolic batch dimension),
// and compares the outputs with typenet's.
//   node run_ort.js <files-dir> <dir where onnxruntime-node is installed>
// Exit status: 0 all within the tolerance, 1 a difference, 77 (skip) when
// onnxruntime-node cannot be loaded.
"use strict";
const fs = require("fs");
const path = require("path");

const [dir, ortPrefix] = process.argv.slice(2);
let ort;
try {
  ort = require(path.join(ortPrefix, "node_modules", "onnxruntime-node"));
} catch (e) {
  console.log(`onnx.ort: SKIPPED - onnxruntime-node could not be loaded from ${ortPrefix} (${e.message.split("\n")[0]})`);
  process.exit(77);
}

function floats(file) {
  const b = fs.readFileSync(path.join(dir, file));
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

async function main() {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  console.log(`onnx.ort: ONNX Runtime ${ort.env.versions.common} (onnxruntime-node), inputs: ${manifest.images}`);
  let failed = 0;
  let overall = 0;
  for (const m of manifest.models) {
    const session = await ort.InferenceSession.create(path.join(dir, m.onnx), {intraOpNumThreads: 1});
    const x = floats(m.input);
    const want = floats(m.expected);
    const n = m.input_shape[0], perIn = x.length / n, perOut = want.length / n;
    const out = (await session.run({input: new ort.Tensor("float32", x, m.input_shape)})).output;
    if (out.dims.join(",") !== m.output_shape.join(",")) {
      console.log(`onnx.ort: ${m.onnx}: output shape [${out.dims}], typenet's is [${m.output_shape}]`);
      failed++;
      continue;
    }
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(out.data[i] - want[i]));
    // One image alone: the batch dimension is symbolic.
    const one = (await session.run({input: new ort.Tensor("float32", x.slice(0, perIn), [1, ...m.input_shape.slice(1)])})).output;
    for (let i = 0; i < perOut; i++) worst = Math.max(worst, Math.abs(one.data[i] - want[i]));
    overall = Math.max(overall, worst);
    const ok = worst <= manifest.tolerance;
    if (!ok) failed++;
    console.log(`onnx.ort: ${m.onnx}: max |ORT - typenet| = ${worst.toExponential(2)} over ${n} + 1 images` +
                (ok ? "" : ` - MORE than ${manifest.tolerance}`));
  }
  console.log(`onnx.ort: ${manifest.models.length - failed} of ${manifest.models.length} models within ` +
              `${manifest.tolerance}; largest difference ${overall.toExponential(2)}`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => {
  console.log(`onnx.ort: FAILED - ${e.stack || e}`);
  process.exit(1);
});
