/** The `cmcrd` executable's module: bin/cmcrd.js loads its compiled form, `npm start` runs it through tsx. */
import { main } from './main.js';

await main(process.argv);
