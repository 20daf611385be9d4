// HeadAudio (@met4citizen/headaudio) run headless under Node.js, for bench/peers.py's headaudio_visemes.
//
//     node bench/headaudio.mjs PACKAGE_DIR [SAMPLE_RATE] < samples.f32 > steps.json
//
// PACKAGE_DIR is the installed npm package (node_modules/@met4citizen/headaudio). stdin holds mono float32
// little-endian samples at SAMPLE_RATE (16000 unless given; a browser's AudioContext usually runs at 48000, and
// HeadAudio downsamples to 16 kHz itself). The package's AudioWorkletProcessor is a thin shell around a plain-JS
// `Processor` (it takes a dummy worklet "for testing"), so it is fed the whole clip here with the same defaults
// the browser node uses, and the pre-trained model dist/model-en-mixed.bin, read from disk, not fetched.
// stdout: {"t": [...], "viseme": [...]}, one entry per analysis step (a 512-sample block every 256 samples at
// 16 kHz): its centre in seconds and the predicted OVR viseme index 0-14 (14 = sil; silence, a block the VAD
// gate shuts and a repeated silence, for which the classifier returns null, are all 14).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const packageDir = process.argv[2];
const sampleRate = Number(process.argv[3] || 16000);
const load = (name) => import(pathToFileURL(join(packageDir, "modules", name)).href);
const PARAMS = await load("parameters.mjs");
const { Processor } = await load("processor.mjs");
const { Training } = await load("training.mjs");

const SIL = PARAMS.MODEL_VISEME_SIL;
const steps = { t: [], viseme: [] };
const worklet = {
  port: {
    onmessage: null,
    postMessage: (message) => {
      if (message.event === "viseme" && message.viseme !== null) steps.viseme[steps.viseme.length - 1] = message.viseme;
    },
  },
};
const processor = new Processor({ sampleRate }, worklet);

// Each MFCC computation is one analysis step; it is silence unless the classifier posts a viseme for it.
const compute = processor.mfcc.compute.bind(processor.mfcc);
processor.mfcc.compute = (block, vector) => {
  steps.t.push(processor.sampleCount / PARAMS.AUDIO_SAMPLE_RATE - processor.vectorDuration / 2);
  steps.viseme.push(SIL);
  return compute(block, vector);
};

// The model: fixed-size binary records of Gaussian prototypes, as Training.loadModel parses a fetched one.
const bytes = readFileSync(join(packageDir, "dist", "model-en-mixed.bin"));
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
const training = new Training();
const model = [];
for (let pos = 0; pos + PARAMS.RECORD_OFFSET <= buffer.byteLength; pos += PARAMS.RECORD_OFFSET) {
  model.push(training.decodeBinaryRecord(new Float32Array(buffer, pos, PARAMS.RECORD_LEN)));
}
processor._onmessage({ data: { event: "model", model } });

const input = readFileSync(0);
const samples = new Float32Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
const QUANTUM = 128; // the Web Audio render quantum: the worklet sees the stream in blocks of this size
for (let i = 0; i < samples.length; i += QUANTUM) processor.process(samples.subarray(i, i + QUANTUM));

process.stdout.write(JSON.stringify(steps));
