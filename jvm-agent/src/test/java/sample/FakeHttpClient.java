package sample;

/** Shaped like Apache HttpClient's InternalHttpClient.doExecute (other argument types). */
public class FakeHttpClient {
    protected StringBuilder doExecute(String target, StringBuilder request, Object context) {
        if (request.length() == 0) {
            throw new IllegalArgumentException("empty");
        }
        for (int i = 0; i < 2; i++) {
            request.append(target);
        }
        return request;
    }

    /** Calls the protected method. */
    public StringBuilder execute(String target, StringBuilder request) {
        return doExecute(target, request, null);
    }
}
