"""The Slack surface: the Bolt app factory, the daily post, and the listeners.

`create_app` builds the app from settings, the database and a Web API client;
`post.post_day` delivers a day's picks as a thread, exactly once per date and channel.
"""
