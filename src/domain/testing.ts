import { deepStrictEqual, fail } from 'node:assert/strict';
import type { Decider } from './decider.js';
import { DomainError, type ErrorKind } from './errors.js';

/**
 * A given/when/then kit for deciders, after Emmett's DeciderSpecification:
 *
 *   spec.given([instanceAdded]).when(addSmtp).then([smtpConfigAdded])
 *   spec.given([]).when(addSmtp).thenThrows('NotFound', 'COMMAND-3n8fs')
 *
 * It depends on no test runner: failures are node:assert errors, which vitest, jest and node:test
 * all report with a diff.
 */
export const DeciderSpecification = {
  for<C, E, S>(decider: Decider<C, E, S>) {
    return {
      given(events: readonly E[]) {
        return {
          when(command: C) {
            const run = (): readonly E[] => {
              let state = decider.initialState();
              for (const event of events) state = decider.evolve(state, event);
              return decider.decide(command, state);
            };
            return {
              then(expected: readonly E[]): void {
                deepStrictEqual(run(), expected);
              },
              thenThrows(kind: ErrorKind, id?: string): DomainError {
                try {
                  const produced = run();
                  return fail(`expected a ${kind} error, but the decider produced ${JSON.stringify(produced)}`);
                } catch (error) {
                  if (!(error instanceof DomainError)) throw error;
                  deepStrictEqual({ kind: error.kind, ...(id ? { id: error.id } : {}) }, { kind, ...(id ? { id } : {}) });
                  return error;
                }
              },
            };
          },
        };
      },
    };
  },
};
