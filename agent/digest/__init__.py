"""Carers' emails: the weekly digest and alert emails, and the jobs that send them.

- `collect`: reads a child's week from the store, and works out which week a digest is for;
- `model`, `build`, `words`: pure: the children's weeks in, the digest's content out, in a
  carer's words;
- `render_text`, `render_html`: the two parts of the email;
- `messages`: whole emails (digest, alert, test) ready for the mail server;
- `mailer`: talking SMTP, with errors in plain words; `delivery`: one send and its record;
- `alerts`: alert emails, grouped and rate-limited;
- `jobs`: the scheduled sends, once per carer per week across restarts, and how the agent
  registers them (`register_jobs`, or `EmailJobs.jobs()`).
"""
