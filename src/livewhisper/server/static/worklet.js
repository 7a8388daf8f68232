// Microphone capture for livewhisper: mono, resampled to 16 kHz, posted as Int16 frames.
//
// Runs on the audio rendering thread (an AudioWorkletProcessor). The AudioContext runs at
// the device's rate (44.1 or 48 kHz, usually); Whisper wants 16 kHz. Plain decimation
// would fold everything above 8 kHz back into the speech band, so each output sample is
// a windowed-sinc low-pass interpolation of the input around its exact position.
//
//   const node = new AudioWorkletNode(ctx, "livewhisper-capture",
//       {processorOptions: {targetRate: 16000, frameSamples: 320}});
//   node.port.onmessage = (e) => socket.send(e.data);   // an ArrayBuffer of Int16 LE

"use strict";

class Resampler {
  constructor(inRate, outRate, zeroCrossings = 16) {
    this.step = inRate / outRate; // input samples per output sample
    this.passthrough = inRate === outRate;
    // Cut a little below the output's Nyquist frequency, where the window's skirt ends.
    this.bandwidth = Math.min(1, outRate / inRate) * 0.92; // of the input's Nyquist
    this.half = Math.ceil(zeroCrossings / this.bandwidth);
    this.buffer = new Float32Array(8192);
    this.length = this.half; // leading zeros: the first outputs see silence before them
    this.position = this.half; // of the next output sample, in buffer coordinates
    this.kernels = new Map();
  }

  kernel(fraction) {
    // Fractional positions repeat (160 of them for 44.1 -> 16 kHz): cache each kernel.
    const key = Math.round(fraction * 4096);
    let taps = this.kernels.get(key);
    if (taps) return taps;
    const half = this.half;
    const b = this.bandwidth;
    taps = new Float32Array(2 * half);
    let sum = 0;
    for (let i = 0; i < 2 * half; i++) {
      const t = i - half + 1 - key / 4096; // distance from the output position
      const x = Math.PI * b * t;
      const sinc = x === 0 ? 1 : Math.sin(x) / x;
      const window = 0.5 + 0.5 * Math.cos((Math.PI * t) / half); // Hann
      taps[i] = Math.abs(t) < half ? sinc * window : 0;
      sum += taps[i];
    }
    for (let i = 0; i < taps.length; i++) taps[i] /= sum; // unity gain at DC
    if (this.kernels.size < 4096) this.kernels.set(key, taps);
    return taps;
  }

  // Feed input samples; emit(sample) is called for each output sample now computable.
  push(input, emit) {
    if (this.passthrough) {
      for (let i = 0; i < input.length; i++) emit(input[i]);
      return;
    }
    if (this.length + input.length > this.buffer.length) {
      const bigger = new Float32Array(2 * (this.length + input.length));
      bigger.set(this.buffer.subarray(0, this.length));
      this.buffer = bigger;
    }
    this.buffer.set(input, this.length);
    this.length += input.length;
    const half = this.half;
    const buf = this.buffer;
    while (this.position + half < this.length) {
      const base = Math.floor(this.position);
      const taps = this.kernel(this.position - base);
      let acc = 0;
      const first = base - half + 1;
      for (let i = 0; i < taps.length; i++) acc += taps[i] * buf[first + i];
      emit(acc);
      this.position += this.step;
    }
    // Keep only what the next outputs still need.
    const drop = Math.floor(this.position) - half + 1;
    if (drop > 0) {
      buf.copyWithin(0, drop, this.length);
      this.length -= drop;
      this.position -= drop;
    }
  }
}

class LivewhisperCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.frameSamples = opts.frameSamples || 320; // 20 ms at 16 kHz
    this.resampler = new Resampler(sampleRate, opts.targetRate || 16000);
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.running = true;
    this.emit = (value) => {
      const v = value < -1 ? -1 : value > 1 ? 1 : value;
      this.frame[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === this.frameSamples) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
      }
    };
    this.port.onmessage = (event) => {
      if (event.data === "stop") {
        if (this.filled > 0) {
          this.port.postMessage(this.frame.slice(0, this.filled).buffer);
          this.filled = 0;
        }
        this.running = false;
      }
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (this.running && input && input.length > 0) {
      let mono = input[0];
      if (input.length > 1) {
        mono = new Float32Array(mono.length);
        for (const channel of input) {
          for (let i = 0; i < channel.length; i++) mono[i] += channel[i] / input.length;
        }
      }
      this.resampler.push(mono, this.emit);
    }
    return this.running;
  }
}

registerProcessor("livewhisper-capture", LivewhisperCapture);
