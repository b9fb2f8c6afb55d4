import PromptGateAccess
import PromptGateDispatch

/// The PostgreSQL store keeps the rate-limit state gateways share (`PostgresTaskStore.rateLimitStep`).
extension PostgresTaskStore: SharedRateLimitState {}
