"""Outbound notification channels: DingTalk and WeCom group robots, and SMS (logged or Aliyun-SendSms-shaped).

Each adapter turns a partner's answer into one of three typed errors, so the caller decides what to do
without knowing the partner: ``RateLimited`` (try later), ``TransientFailure`` (retry with backoff) and
``PermanentFailure`` (retrying cannot help). The adapters know nothing of Temporal or of the settings.

One adapter per module; import each name from the module that defines it:

- :mod:`activities.channels.messages`: ``Message`` and ``Button`` as every robot shows them, and byte-safe
  truncation.
- :mod:`activities.channels.errors`: the typed errors and how an HTTP answer maps to them.
- :mod:`activities.channels.transport`: the POST every adapter makes, transport failures mapped to errors.
- :mod:`activities.channels.limiter`: ``RobotRateLimiter``, the worker's per-robot minute budget.
- :mod:`activities.channels.dingtalk`: ``DingTalkRobot`` and its signature and payload.
- :mod:`activities.channels.wecom`: ``WeComRobot`` and its payload.
- :mod:`activities.channels.sms`: ``SmsSender``, ``LogSms``, ``AliyunSms`` and ``mask_mobile``.
"""
