/** `@iam/smtp-config/eventstoredb`: the event store on EventStoreDB (peer dependency `@eventstore/db-client`). */
export * from './eventstoredb-event-store.js';
