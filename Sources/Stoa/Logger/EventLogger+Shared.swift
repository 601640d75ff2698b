import Foundation

extension EventLogger {
    /// The process's default logger, for the simplest use: created on first
    /// use with the settings given to ``bootstrap(storePath:configuration:)``,
    /// or else at ``defaultStorePath`` with the default configuration. It is
    /// stopped (and so flushed) when the process exits normally (`exit` or a
    /// return from `main`); a crash or a signal loses its buffer.
    ///
    /// ```swift
    /// EventLogger.bootstrap(storePath: "/var/log/my-agent")   // optional, once, early
    /// EventLogger.shared.log(type: "session_start", ["model": "m-1"])
    /// ```
    public static var shared: EventLogger {
        sharedLoggerState.withLock { state in
            if let logger = state.logger { return logger }
            let (path, configuration) = state.settings ?? (defaultStorePath, Configuration())
            let logger = EventLogger(storePath: path, configuration: configuration)
            state.logger = logger
            atexit { EventLogger.stopSharedAtExit() }
            return logger
        }
    }

    /// Sets where and how ``shared`` logs. Call it once, before the first use
    /// of ``shared``; later calls change nothing.
    ///
    /// - Returns: whether the settings were taken: false when ``shared`` was
    ///   already created or `bootstrap` already called.
    @discardableResult
    public static func bootstrap(storePath: String, configuration: Configuration = Configuration()) -> Bool {
        sharedLoggerState.withLock { state in
            guard state.logger == nil, state.settings == nil else { return false }
            state.settings = (storePath, configuration)
            return true
        }
    }

    /// Where ``shared`` logs unless bootstrapped: the environment variable
    /// `STOA_LOG_DIR`, else `./stoa-log`.
    public static var defaultStorePath: String {
        if let directory = ProcessInfo.processInfo.environment["STOA_LOG_DIR"], !directory.isEmpty {
            return directory
        }
        return "./stoa-log"
    }

    private static func stopSharedAtExit() {
        sharedLoggerState.withLock { $0.logger }?.stop()
    }
}

/// The shared logger and its settings.
private struct SharedLoggerState: Sendable {
    var settings: (String, EventLogger.Configuration)?
    var logger: EventLogger?
}

private let sharedLoggerState = Protected(SharedLoggerState())
