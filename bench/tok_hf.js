// bench/tok_hf.js — the HF tokenizers side of bench/tok.sh (npm `tokenizers`, Rust via Node):
// load time, encode (one call, add_special_tokens false) and decode of a corpus; best of N;
// CPU time of the process (process.cpuUsage) and wall time. Prints one JSON line.
const path = require('path');
const fs = require('fs');
const { Tokenizer } = require(path.join(process.argv[2], 'node_modules', 'tokenizers'));
const [file, corpus, repsArg] = process.argv.slice(3);
const reps = Number(repsArg || 3);
const text = fs.readFileSync(corpus, 'utf8');
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const wall = () => Number(process.hrtime.bigint()) / 1e9;
(async () => {
  let best = { load: 1e9, enc: 1e9, dec: 1e9 }, w = {}, tok, ids;
  for (let r = 0; r < reps; r++) {
    const c0 = cpu(), w0 = wall();
    tok = Tokenizer.fromFile(file);
    if (cpu() - c0 < best.load) { best.load = cpu() - c0; w.load = wall() - w0; }
  }
  for (let r = 0; r < reps; r++) {
    const t = Tokenizer.fromFile(file);
    const c0 = cpu(), w0 = wall();
    const enc = await t.encode(text, null, { addSpecialTokens: false });
    if (cpu() - c0 < best.enc) { best.enc = cpu() - c0; w.enc = wall() - w0; }
    ids = enc.getIds();
  }
  let out = '';
  for (let r = 0; r < reps; r++) {
    const c0 = cpu(), w0 = wall();
    out = await tok.decode(Array.from(ids), false);
    if (cpu() - c0 < best.dec) { best.dec = cpu() - c0; w.dec = wall() - w0; }
  }
  console.log(JSON.stringify({ bytes: Buffer.byteLength(text), tokens: ids.length, load_s: best.load,
    encode_s: best.enc, decode_s: best.dec, decoded_bytes: Buffer.byteLength(out),
    wall_load_s: w.load, wall_encode_s: w.enc, wall_decode_s: w.dec }));
})();
