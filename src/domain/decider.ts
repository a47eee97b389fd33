/** Emmett's shape: decide turns a command into events (or throws a DomainError), evolve folds them. */
export interface Decider<Command, Event, State> {
  readonly decide: (command: Command, state: State) => readonly Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

export const fold = <Event, State>(decider: Pick<Decider<never, Event, State>, 'evolve' | 'initialState'>, events: Iterable<Event>): State => {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
};
