/** @flowgate/server's public surface, for embedding and tests. */
export { startServer, createLogger, type RunningServer } from './main.js';
export { loadConfig, ConfigError, type Config } from './config/config.js';
