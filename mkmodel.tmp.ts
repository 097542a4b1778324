import { modelDir } from './test/run/helpers.js';
const d = await modelDir({ int8: true, card: { faster: { 'onnxruntime-node': 'int8' } } });
console.log(d);
