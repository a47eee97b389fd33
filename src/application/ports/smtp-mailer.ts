/** What a mailer needs to send through an SMTP server. The password is plain text: keep it in memory only. */
export interface SmtpSenderConfig {
  /** `host:port`. */
  readonly host: string;
  /** Implicit TLS, falling back to STARTTLS when the server does not start with TLS; false: a plain connection. */
  readonly tls: boolean;
  /** Empty: no authentication. */
  readonly user: string;
  readonly password: string;
  readonly senderAddress: string;
  readonly senderName: string;
  /** Empty: no Reply-To header. */
  readonly replyToAddress: string;
}

export interface SmtpMail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

/**
 * Sends one mail through the given SMTP server, within a bounded time. Rejects with the DomainError
 * of `Errors.smtpTestFailed` naming the step that failed (connection, timeout, TLS, authentication,
 * sender, recipient); its message never contains the password.
 */
export interface SmtpMailer {
  send(config: SmtpSenderConfig, mail: SmtpMail): Promise<void>;
}
