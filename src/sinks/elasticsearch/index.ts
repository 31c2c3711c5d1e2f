// The Elasticsearch sink's public surface, for `droptrace run` and `setup`.
export { createElasticsearchSink, ElasticsearchSink, type ElasticsearchSinkOptions } from './sink.js';
export {
  esOptionsFromArgs, esConnectionFromArgs, withEsConnectionOptions, withEsSinkOptions,
  type EsArgs, type EsAuth, type EsTls, type EsConnection, ENV_API_KEY, ENV_PASSWORD, DEFAULT_NAMESPACE,
} from './options.js';
export { dataStreamOf, dataStreamName, toBulkItem, DATASET_TYPES } from './routing.js';
