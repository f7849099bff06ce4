// tests/npm/hf_ref.js — the reference side of the tokenizer parity tests: HF `tokenizers`
// (the Rust library, through its Node binding) encodes and decodes what the test asks.
// stdin JSON:  {"tokenizer": path,
//               "items": [{"text": str | "b64": base64 bytes (decoded as UTF-8 with U+FFFD),
//                          "add_special": bool}],
//               "decode_encoded": bool,            decode every item's ids (skip_special false)
//               "decode": [{"ids": [...], "skip": bool}],
//               "chat_template": str, "bos_token": str, "chat": [[{"role","content"}...]]}
//               (conversations rendered with @huggingface/jinja, then encoded like items)
// stdout JSON: {"ids": [[...]], "decoded_encoded": [str], "decoded": [str], "load_ms": n,
//               "chat_text": [str], "chat_ids": [[...]]}, or {"load_error": str} when HF
//               refuses the tokenizer file
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', async () => {
  const req = JSON.parse(input);
  const t0 = process.hrtime.bigint();
  let tok;
  try { tok = Tokenizer.fromFile(req.tokenizer); }
  catch (e) { process.stdout.write(JSON.stringify({ load_error: String(e) })); return; }
  const out = { ids: [], decoded_encoded: [], decoded: [], load_ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  for (const it of req.items || []) {
    const text = it.b64 !== undefined ? Buffer.from(it.b64, 'base64').toString('utf8') : it.text;
    const enc = await tok.encode(text, null, { addSpecialTokens: !!it.add_special });
    out.ids.push(Array.from(enc.getIds()));
  }
  if (req.decode_encoded) for (const ids of out.ids) out.decoded_encoded.push(await tok.decode(ids, false));
  for (const d of req.decode || []) out.decoded.push(await tok.decode(d.ids, !!d.skip));
  if (req.chat) {
    const { Template } = await import('@huggingface/jinja');
    const tpl = new Template(req.chat_template);
    out.chat_text = []; out.chat_ids = [];
    for (const messages of req.chat) {
      const text = tpl.render({ messages, bos_token: req.bos_token, add_generation_prompt: true });
      out.chat_text.push(text);
      out.chat_ids.push(Array.from((await tok.encode(text, null, { addSpecialTokens: false })).getIds()));
    }
  }
  process.stdout.write(JSON.stringify(out));
});
