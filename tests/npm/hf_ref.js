// tests/npm/hf_ref.js — the reference side of the tokenizer parity tests: HF `tokenizers`
// (Rust, via its Node binding) encodes/decodes what the test asks and prints JSON.
// stdin: {"tokenizer": path, "docs": [str...], "add_special": bool,
//         "decode": [[ids]...], "skip_special": bool, "docs_b64": bool}
// stdout: {"ids": [[...]...], "decoded": [str...], "load_ms": number}
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', async () => {
  const req = JSON.parse(input);
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(req.tokenizer);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const out = { ids: [], decoded: [], load_ms: loadMs };
  let docs = req.docs || [];
  if (req.docs_b64) docs = docs.map(d => Buffer.from(d, 'base64').toString('utf8'));
  for (const d of docs) {
    const enc = await tok.encode(d, null, { addSpecialTokens: !!req.add_special });
    out.ids.push(Array.from(enc.getIds()));
  }
  for (const ids of req.decode || []) out.decoded.push(await tok.decode(ids, !!req.skip_special));
  process.stdout.write(JSON.stringify(out));
});
