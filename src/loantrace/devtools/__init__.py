"""Development tools outside the service: the demo, the gas report, a reference webhook
receiver, sample terms and the anvil helper. The service never imports them."""
