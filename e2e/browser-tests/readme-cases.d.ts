declare module 'virtual:readme-browser-cases' {
  const cases: { section: string; line: number; run: (registryUrl: string) => Promise<void> }[];
  export default cases;
}
