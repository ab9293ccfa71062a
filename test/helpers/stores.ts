/** Where the test Redis is (started by the global fixture) and how to get a store URL of one's own on it. */

export function redisTestUrl(): string {
  const url = process.env['FLOWGATE_TEST_REDIS_URL'];
  if (url === undefined) throw new Error('FLOWGATE_TEST_REDIS_URL is not set: run the tests with npm test (it starts redis-server)');
  return url;
}
