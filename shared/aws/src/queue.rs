//! The `events` SQS queue. Lambda's event source mapping consumes it in the cloud;
//! the consumer side here serves the conformance suite and operators.

use crate::Aws;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::queue::{Delivery, Queue, QueueConsumer, QueueError, QueueName};

/// SQS allows 256 KiB per message with its attributes; a reason is a sentence.
const MAX_REASON_CHARS: usize = 1_000;
/// Long polling: an empty receive waits this long for a message before answering.
const WAIT_SECONDS: i32 = 1;

fn failed<E, R>(error: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    QueueError(crate::dynamo::sdk(error))
}

impl Aws {
    fn queue_url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Events => &self.resources.events_queue_url,
            QueueName::Runs => &self.resources.runs_queue_url,
            QueueName::CustomerRuns => &self.resources.customer_runs_queue_url,
            QueueName::Fulfillment => &self.resources.fulfillment_queue_url,
            QueueName::Usage => &self.resources.usage_queue_url,
        }
    }
}

impl Aws {
    /// Each of `queues` by the name SQS gives it (the last part of its URL and of its ARN):
    /// how a function fed by several queues knows which one a record came from.
    pub fn queue_names(&self, queues: &[QueueName]) -> Vec<(String, QueueName)> {
        let name = |url: &str| url.rsplit('/').next().unwrap_or(url).to_owned();
        queues.iter().map(|&queue| (name(self.queue_url(queue)), queue)).collect()
    }

    fn dead_letter_url(&self, queue: QueueName) -> Result<&str, QueueError> {
        let (url, setting) = match queue {
            QueueName::Events => (&self.resources.events_dead_letter_queue_url, "EVENTS_DLQ_URL"),
            QueueName::Runs => (&self.resources.runs_dead_letter_queue_url, "RUNS_DLQ_URL"),
            QueueName::CustomerRuns => (&self.resources.customer_runs_dead_letter_queue_url, "CUSTOMER_RUNS_DLQ_URL"),
            QueueName::Fulfillment => (&self.resources.fulfillment_dead_letter_queue_url, "FULFILLMENT_DLQ_URL"),
            QueueName::Usage => (&self.resources.usage_dead_letter_queue_url, "USAGE_DLQ_URL"),
        };
        url.as_deref()
            .ok_or_else(|| QueueError(PortError::new(ErrorKind::NotFound, format!("{setting} is not configured"))))
    }
}

impl Queue for Aws {
    async fn send(&self, queue: QueueName, body: &str) -> Result<(), QueueError> {
        self.sqs
            .send_message()
            .queue_url(self.queue_url(queue))
            .message_body(body)
            .send()
            .await
            .map(drop)
            .map_err(failed)
    }
}

impl QueueConsumer for Aws {
    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(self.queue_url(queue))
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(failed)?;
        Ok(output.messages.unwrap_or_default().into_iter().filter_map(|message| delivery(queue, message)).collect())
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.sqs
            .delete_message()
            .queue_url(self.queue_url(delivery.queue))
            .receipt_handle(&delivery.receipt)
            .send()
            .await
            .map(drop)
            .map_err(failed)
    }

    async fn retry_after(&self, delivery: &Delivery, seconds: u32) -> Result<(), QueueError> {
        self.sqs
            .change_message_visibility()
            .queue_url(self.queue_url(delivery.queue))
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(seconds as i32)
            .send()
            .await
            .map(drop)
            .map_err(failed)
    }

    /// Sent to the dead-letter queue with its reason as a message attribute, then deleted.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(MAX_REASON_CHARS).collect::<String>())
            .build()
            .map_err(|e| QueueError(PortError::caused_by(ErrorKind::Invalid, "a dead letter's reason", e)))?;
        self.sqs
            .send_message()
            .queue_url(self.dead_letter_url(delivery.queue)?)
            .message_body(&delivery.body)
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(failed)?;
        self.ack(delivery).await
    }

    async fn dead_letters(&self, queue: QueueName) -> Result<Vec<String>, QueueError> {
        let url = self.dead_letter_url(queue)?;
        // Visibility 0: reading the dead letters leaves them where they are.
        let output = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(WAIT_SECONDS)
            .send()
            .await
            .map_err(failed)?;
        Ok(output.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect())
    }
}

/// An SQS message as a delivery; a message without id, receipt or body cannot be one.
fn delivery(queue: QueueName, message: aws_sdk_sqs::types::Message) -> Option<Delivery> {
    let receive_count = message
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    Some(Delivery {
        queue,
        message_id: message.message_id?,
        receipt: message.receipt_handle?,
        body: message.body?,
        receive_count,
    })
}
