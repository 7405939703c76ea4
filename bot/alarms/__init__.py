"""CloudWatch alarms in Slack: notifications parsed (model), relayed as living cards (relay), and the cards'
buttons (actions). The path: alarm topic -> SQS (DLQ) -> handlers.alarms -> AlarmRelay.
"""
