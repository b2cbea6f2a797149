"""An SQS queue that takes OSML's ImageRequest message unchanged, piped to the state machine.

OSML clients send their ImageRequest to a queue; pointing them at this one is all it takes to switch.
EventBridge Pipes starts one execution per message (batch size 1): there is no polling code of ours.
Messages that cannot be delivered after three tries go to a dead-letter queue kept for 14 days.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class RequestQueue(Construct):
    """The ImageRequest queue, its dead-letter queue, and the pipe to the state machine."""

    def __init__(self, scope: Construct, construct_id: str, *, state_machine: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        secure = {
            "encryption": sqs.QueueEncryption.SQS_MANAGED,
            "enforce_ssl": True,
            "retention_period": Duration.days(14),
        }
        self.dead_letters = sqs.Queue(self, "DeadLetters", **secure)  # type: ignore[arg-type]
        self.queue = sqs.Queue(
            self,
            "ImageRequests",
            visibility_timeout=Duration.minutes(5),
            **secure,  # type: ignore[arg-type]
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=3),
        )
        role = iam.Role(self, "PipeRole", assumed_by=iam.ServicePrincipal("pipes.amazonaws.com"))
        self.queue.grant_consume_messages(role)
        state_machine.grant_start_execution(role)
        self.pipe = pipes.CfnPipe(
            self,
            "Pipe",
            role_arn=role.role_arn,
            source=self.queue.queue_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                sqs_queue_parameters=pipes.CfnPipe.PipeSourceSqsQueueParametersProperty(batch_size=1)
            ),
            target=state_machine.state_machine_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                step_function_state_machine_parameters=pipes.CfnPipe.PipeTargetStateMachineParametersProperty(
                    invocation_type="FIRE_AND_FORGET"
                )
            ),
            description="OSML ImageRequest messages start Tessera jobs",
        )
