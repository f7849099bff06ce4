// tests/npm/serve_client.js — serve through the official `openai` npm client (tests/e2e/serve.sh).
// Usage: node serve_client.js BASE_URL API_KEY MODEL
// Non-streamed and streamed completions and chat completions with the same seed (the streamed
// text must equal the non-streamed one), n = 2, stream_steps events through extra body fields,
// model listing, and the client's error classes for a wrong model and a wrong key.
// Prints "ok - NAME" / "not ok - NAME: detail" lines; the shell test counts them.
const path = require('path');
const { OpenAI } = require(path.join(__dirname, 'node_modules', 'openai'));
const [base, key, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 300000 });
const check = (name, cond, detail) => console.log(cond ? `ok - ${name}` : `not ok - ${name}: ${detail}`);

async function collect(stream, chat) {
  const text = {}, finish = {}, roles = {};
  let steps = 0, other = 0, usage = null;
  for await (const c of stream) {
    // openai 4.x yields a named event as {event, data}; 5.x yields its data
    if (c.object === 'diffusion.step' || c.event === 'diffusion.step') { steps++; continue; }
    if (!Array.isArray(c.choices)) { other++; continue; }
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const d = chat ? (ch.delta.content || '') : ch.text;
      if (chat && ch.delta.role) roles[ch.index] = ch.delta.role;
      text[ch.index] = (text[ch.index] || '') + d;
      if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
    }
  }
  return { text, finish, roles, steps, other, usage };
}

(async () => {
  const list = await client.models.list();
  check('models.list names the served model', list.data.length === 1 && list.data[0].id === model, JSON.stringify(list.data));

  const creq = { model, prompt: 'And God said', max_tokens: 12, seed: 11, n: 2 };
  const c = await client.completions.create(creq);
  check('completions: two choices', c.choices.length === 2 && c.choices[1].index === 1, JSON.stringify(c.choices));
  check('completions: usage counts the prompt', c.usage.prompt_tokens > 0 && c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, JSON.stringify(c.usage));
  const cs = await collect(await client.completions.create({ ...creq, stream: true }), false);
  check('completions: streamed text equals non-streamed (same seed), choice 0', cs.text[0] === c.choices[0].text, `${JSON.stringify(cs.text[0])} vs ${JSON.stringify(c.choices[0].text)}`);
  check('completions: streamed text equals non-streamed (same seed), choice 1', cs.text[1] === c.choices[1].text, `${JSON.stringify(cs.text[1])} vs ${JSON.stringify(c.choices[1].text)}`);
  check('completions: streamed finish reasons', cs.finish[0] === c.choices[0].finish_reason && cs.finish[1] === c.choices[1].finish_reason, JSON.stringify(cs.finish));

  const msgs = [{ role: 'system', content: 'You answer briefly.' }, { role: 'user', content: 'Who made the heaven and the earth?' }];
  const q = { model, messages: msgs, max_tokens: 16, seed: 5, temperature: 0.7 };
  const r = await client.chat.completions.create(q);
  const answer = r.choices[0].message.content;
  check('chat: one assistant message', r.object === 'chat.completion' && r.choices[0].message.role === 'assistant' && typeof answer === 'string', JSON.stringify(r));
  const rs = await collect(await client.chat.completions.create({ ...q, stream: true, stream_options: { include_usage: true } }), true);
  check('chat: streamed text equals non-streamed (same seed)', rs.text[0] === answer, `${JSON.stringify(rs.text[0])} vs ${JSON.stringify(answer)}`);
  check('chat: the stream starts with the assistant role', rs.roles[0] === 'assistant', JSON.stringify(rs.roles));
  check('chat: include_usage ends with the usage of the non-streamed answer', rs.other === 0 && rs.usage &&
        JSON.stringify(rs.usage) === JSON.stringify(r.usage), `${JSON.stringify(rs.usage)} vs ${JSON.stringify(r.usage)}`);
  const st = await collect(await client.chat.completions.create({ ...q, stream: true, diffusion: { stream_steps: true } }), true);
  check('chat: stream_steps sends one event per step, text unchanged', st.steps > 0 && st.steps <= 16 && st.text[0] === answer, `${st.steps} steps, ${JSON.stringify(st.text[0])}`);
  console.log(JSON.stringify({ completion: c.choices.map(x => x.text), chat: answer }));

  try { await client.chat.completions.create({ ...q, model: 'no-such-model' }); check('wrong model is an error', false, 'no error'); }
  catch (e) { check('wrong model: NotFoundError 404', e instanceof OpenAI.NotFoundError && e.status === 404, `${e.constructor.name} ${e.status}`); }
  if (key !== 'none') {
    const bad = new OpenAI({ baseURL: base + '/v1', apiKey: key + 'x', maxRetries: 0 });
    try { await bad.models.list(); check('wrong key is an error', false, 'no error'); }
    catch (e) { check('wrong key: AuthenticationError 401', e instanceof OpenAI.AuthenticationError && e.status === 401, `${e.constructor.name} ${e.status}`); }
  }
})().catch(e => { console.log(`not ok - client run: ${e.stack || e}`); });
