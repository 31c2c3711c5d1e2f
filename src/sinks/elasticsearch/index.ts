// The Elasticsearch sink's public surface, for `droptrace run`, `pcap` and `setup`.
export { createElasticsearchSink, ElasticsearchSink, type ElasticsearchSinkOptions } from './sink.js';
export {
  esOptionsFromArgs, esConnectionFromArgs, ES_CONNECTION_OPTIONS, ES_SINK_OPTIONS,
  type EsArgs, type EsAuth, type EsTls, type EsConnection, ENV_API_KEY, ENV_PASSWORD, DEFAULT_NAMESPACE,
} from './options.js';
export { elasticsearchSink } from './definition.js';
export { dataStreamOf, dataStreamName, toBulkItem, DATASET_TYPES } from './routing.js';
