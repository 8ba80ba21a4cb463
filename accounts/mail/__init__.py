"""E-mail to retailer members: order confirmations, the weekly reorder digest and one-click unsubscribe.

Mails are built in `messages`, sent and recorded (EmailDelivery) in `services`, queued through the task
outbox and sent by the thin tasks in accounts/tasks.py.
"""
