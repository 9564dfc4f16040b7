/** The ceiling workflow's only activity does nothing: it measures Temporal, not our code. */
export const ceilingActivities = {
  async ceilingNoop(): Promise<void> {},
};
export type CeilingActivities = typeof ceilingActivities;
