// The peer of benches/slack.rs: @slack/bolt's Events API app answering each app mention in
// its thread with one chat.postMessage, against the bench's fake Slack Web API
// (SLACK_API_URL). Prints "bolt listening on PORT" once it serves.
const { App, LogLevel } = require('@slack/bolt');

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  logLevel: LogLevel.ERROR,
});

app.event('app_mention', async ({ event, say }) => {
  await say({ text: `You asked: ${event.text}`, thread_ts: event.thread_ts || event.ts });
});

(async () => {
  const server = await app.start(0);
  console.log(`bolt listening on ${server.address().port}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
