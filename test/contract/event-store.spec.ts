import { storeAdapters } from '../support/adapters.js';
import { eventStoreContract } from './event-store.contract.js';

for (const adapter of storeAdapters) eventStoreContract(adapter);
