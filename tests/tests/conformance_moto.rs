//! The port conformance suite on the DynamoDB and SQS adapters, against moto_server
//! with the real aws-sdk clients.

use tollgate_tests::conformance_suite;
use tollgate_tests::moto::fresh_store;

conformance_suite!(fresh_store());
