#!/usr/bin/env node
// Tokenizes the Qwen3 renders made by render_reference.py with the Rust Hugging Face tokenizer
// (the npm package `tokenizers`, which binds it) and labels every token whose character span
// overlaps a trained span: labels[i] = ids[i] there, -100 elsewhere.
//
// Writes ../resources/fixtures/qwen3-label-fixtures.json.
//   npm install --no-save tokenizers@0.23.2 && node tokenize_reference.js
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const here = __dirname;
const res = path.join(here, '..', 'resources');

(async () => {
  const tokenizer = Tokenizer.fromFile(path.join(here, '..', '..', '..', '..', 'tokenizers', 'qwen3',
    'tokenizer.json'));
  const cases = JSON.parse(fs.readFileSync(path.join(here, 'qwen3-spans.json'), 'utf8'));
  const out = [];
  for (const c of cases) {
    const encoding = await tokenizer.encode(c.render, null, { addSpecialTokens: false });
    const ids = encoding.getIds();
    const offsets = encoding.getOffsets(); // [start, end) in code points, like Python indices
    const labels = ids.map((id, i) => {
      const [s, e] = offsets[i];
      const trained = c.spans.some(([a, b]) => (e > s ? s < b && e > a : s >= a && s < b));
      return trained ? id : -100;
    });
    out.push({ id: c.id, policy: c.policy, render: c.render, input_ids: ids, labels });
  }
  fs.writeFileSync(path.join(res, 'fixtures', 'qwen3-label-fixtures.json'),
    JSON.stringify({ generator: 'tokenize_reference.js, npm tokenizers ' +
      require('tokenizers/package.json').version, cases: out }, null, 1));
  console.log(`${out.length} label fixtures`);
})();
