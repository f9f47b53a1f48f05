/** What `call` threw, as its class and message, or `'nothing thrown'`: one value to compare with `toEqual`. */
export function thrown(call: () => unknown): [unknown, string] | 'nothing thrown' {
  try {
    call();
  } catch (error) {
    return [(error as Error).constructor, (error as Error).message];
  }
  return 'nothing thrown';
}
