// tests/npm/jinja_ref.js — the reference side of the chat-template tests: @huggingface/jinja
// renders a template with each case's variables.
// stdin JSON:  {"template": str, "cases": [{vars...}, ...]}
// stdout JSON: {"text": [str | null], "error": [str | null]}  (one entry per case; a render
//              that throws gives text null and its message)
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', async () => {
  const req = JSON.parse(input);
  const { Template } = await import('@huggingface/jinja');
  const out = { text: [], error: [] };
  let tpl = null;
  try { tpl = new Template(req.template); } catch (e) { out.parse_error = String(e.message || e); }
  for (const vars of req.cases || []) {
    if (!tpl) { out.text.push(null); out.error.push(out.parse_error); continue; }
    try { out.text.push(tpl.render(vars)); out.error.push(null); }
    catch (e) { out.text.push(null); out.error.push(String(e.message || e)); }
  }
  process.stdout.write(JSON.stringify(out));
});
