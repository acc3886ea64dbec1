package kitegate.hello;

/**
 * The interface of kitegate's built-in Dubbo hello backend (the gateway side
 * implements it in Rust). The jar's {@code consumer} mode calls it; the
 * {@code provider --with-hello} mode also exports a Java implementation of it.
 */
public interface HelloService {
    Response echo(Request req);

    AddResponse add(AddRequest req);
}
